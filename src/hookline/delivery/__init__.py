"""The delivery worker: dispatcher (claims, capacity), lanes (per-subscription queues), sender
(one attempt) over http1 (the pooled HTTP/1.1 client) and request (URLs and requests on the
wire), resolver (SSRF guard)."""
