"""VDXP-compatible endpoints: agencies whose software speaks the VDXP SDK's protocol switch
to the axis by changing the SDK's endpoint URL, systemid and secret. Everything they send
goes through the same ingest, inbox, acknowledgement and registry code as `/v1`."""
