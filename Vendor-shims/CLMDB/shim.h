// CLMDB: liblmdb (Debian 12: 0.9.24, apt liblmdb-dev) for the Storage module only.
// Values returned by mdb_get/mdb_cursor_get point into the map: they die at the end of the
// transaction or at the next write in it, so Storage copies them out before either happens.
#ifndef CLMDB_SHIM_H
#define CLMDB_SHIM_H
#include <lmdb.h>
#endif
