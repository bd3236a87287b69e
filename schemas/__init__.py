"""What an edXML (QCVN 102:2016) message is, for the axis and for agencies alike: the XSDs
for documents and status messages (shipped inside the wheel) and `schemas.edxml`, which
parses, validates and models one.

`schemas.loader` compiles the XSDs (once per process, offline); `xsd/README.md` explains
every tolerance decision.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

XSD_DIR: Traversable = files(__name__) / "xsd"
"""Where the schema files live, in a source tree and in an installed wheel alike."""
