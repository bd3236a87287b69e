"""XSDs for QCVN 102:2016 edXML documents and status messages, shipped inside the wheel.

`schemas.loader` compiles them (once per process, offline); `xsd/README.md` explains every
tolerance decision.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

XSD_DIR: Traversable = files(__name__) / "xsd"
"""Where the schema files live, in a source tree and in an installed wheel alike."""
