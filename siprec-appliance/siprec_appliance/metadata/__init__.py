"""RFC 7865 recording metadata: model, hardened tolerant parser, updates (pure)."""
