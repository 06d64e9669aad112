//! Files that go onto the stick but are not ours: the iPXE EFI binaries.

pub mod ipxe;
