"""What runs on the cluster: the trainer builder, the training loop, the checkpoint store
and the built-in tasks. Imports ray and torch; nothing outside the runtime imports it at
module level."""
