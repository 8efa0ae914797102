"""The authorization pages (委托授权): a pages-layer package over console.authorizations (models and rules)."""
