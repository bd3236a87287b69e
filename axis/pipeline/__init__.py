"""The path of a message through the axis: validate, verify, countersign, publish."""
