"""connectivity mqtt package."""
