"""The guest side: JOS's C headers, user library and programs (i386), the
toolchain that builds them, and the ELF reader that loads them."""
