# @TEST-DOC: The package's scripts parse cleanly with zeekscript (PyPI) and are in zeek-format's style.
# @TEST-REQUIRES: command -v zeek-script && command -v zeek-format
# @TEST-EXEC: for f in $PACKAGE/*.zeek; do zeek-script parse -q $f || exit 1; done
# @TEST-EXEC: for f in $PACKAGE/*.zeek; do zeek-format $f | cmp - $f || exit 1; done
