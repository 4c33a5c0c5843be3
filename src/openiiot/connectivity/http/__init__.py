"""connectivity http package."""
