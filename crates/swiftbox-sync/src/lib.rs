//! SwiftBox sync (skeleton; filled by its issue).
