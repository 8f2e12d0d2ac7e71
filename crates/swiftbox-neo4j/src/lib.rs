//! SwiftBox neo4j (skeleton; filled by its issue).
