"""How the axis runs its workers: the consume loops, what the workers share, and starting
them all for the life of a block. The router and the delivery worker are `axis.delivery`."""
