"""Operations commands: import, links apply, plan, diff and status (CONTRACT.md, "Operating it")."""
