//! What kind of file a path is, in words for messages ("is a FIFO (named
//! pipe)"): one wording for every input and output mkstick refuses.

use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;

/// What a file type is, for messages.
pub(crate) fn file_kind(ft: FileType) -> &'static str {
    if ft.is_file() {
        "a regular file"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}
