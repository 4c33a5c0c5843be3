"""connectivity package."""
