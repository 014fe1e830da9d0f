"""The client: resolves a file of hostnames through a server, or explains one name's race."""
