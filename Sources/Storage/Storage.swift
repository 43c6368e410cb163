// Storage module: see DESIGN.md.
