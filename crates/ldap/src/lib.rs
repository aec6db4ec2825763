//! pbx365 LDAPv3 front end for desk phones and PBXs, over a DirectoryService.

#![warn(missing_docs)]
