"""Changes people make to routing state through the store: the CLI, phone access codes, CSV import and export."""
