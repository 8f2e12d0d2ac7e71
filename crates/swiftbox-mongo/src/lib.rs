//! SwiftBox mongo (skeleton; filled by its issue).
