"""Rules stage: compiled conditions and field mappings, event -> Braze request items."""
