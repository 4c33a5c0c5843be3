"""Pure domain model: entities, value objects, state machines, errors. No I/O, no frameworks."""
