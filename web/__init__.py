"""The service's HTTP edge: the versioned JSON API and the portal, both over the case service."""
