"""The host's protocols, one module each; none imports another."""
