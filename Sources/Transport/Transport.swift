// Transport module: see DESIGN.md.
