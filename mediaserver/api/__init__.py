"""The HTTP API: one route table (``routing.Api``) filled by a module per resource."""
