"""/search: the AI service's edge (the only importer of openai), answers, and limits."""
