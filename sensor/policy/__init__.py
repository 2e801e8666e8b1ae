"""The Postfix policy service (DESIGN s5): codec, verdict cache, journal, server."""
