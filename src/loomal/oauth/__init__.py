"""OAuth credentials that stay alive: provider presets and the store-time check
(``presets``), the token endpoint client over the broker's transport and egress
policy (``token_client``), the single-flight refresh behind the core's
``LiveTokens`` port (``refresh``) and the connect flow (``connect``)."""
