"""The console's views, one module per area; each as thin as an API router."""
