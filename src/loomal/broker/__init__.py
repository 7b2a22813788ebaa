"""Use without reveal: brokered requests, outside the core.

Pure rules, each in its own module and testable without a socket:

- ``urls``       URL parsing, canonical hosts, ``allowedHosts`` matching
- ``addresses``  which addresses may be reached; the operator's allowances
- ``paths``      dot segments; a proxied path stays under ``baseUrl``'s path
- ``injection``  the plan made from one credential: what is injected, where it
                 may go, what to scrub
- ``outbound``   what a request may carry out (method, headers, body, query)
- ``hops``       each hop's checks and the next hop of a redirect
- ``encodings``  content encodings the vault decodes; the rest refused
- ``scrubbing``  every recognisable spelling of a secret, redacted
- ``answers``    which answer headers come back, for ``/fetch`` and the proxy

The port and its one implementation:

- ``transport``        the ``Transport`` protocol: resolve, send one request to
                       one checked address, stream the raw answer
- ``httpx_transport``  the real one (system resolver, TLS for the name on a
                       pinned address)

And the use cases over them: ``exchange`` (one exchange, hop by hop),
``service`` (``BrokerService.fetch`` and ``.proxy``, audited), wired in
``loomal.runtime``, and ``pinned_post`` (the vault's own POSTs: webhooks, OAuth
token requests). See docs/architecture.md.
"""
