"""The audit log: a Merkle-tree evidence log of every step, its writer, queries and proofs."""
