"""Workers that consume the bus: the router fans accepted messages out into deliveries, the
delivery worker hands each delivery to the recipient's adapter."""
