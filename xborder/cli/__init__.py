"""The `xborder` command line: one face of the services, holding no logic of its own."""
