"""`python -m portrait.tags`: write the tag catalog as Markdown (`portrait.tags.markdown`)."""

from portrait.tags.markdown import main

main()
