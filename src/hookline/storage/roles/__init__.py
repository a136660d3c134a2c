"""The storage interface in parts, one per area of the domain; ``base.Storage`` is all of them."""
