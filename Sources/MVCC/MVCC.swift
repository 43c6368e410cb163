// MVCC module: see DESIGN.md.
