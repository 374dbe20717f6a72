/* closedir_null.c — contract: closedir(NULL) is glibc's EINVAL, not a crash
 * (the shim's closedir hook must not look into a NULL DIR to forget its fd),
 * and closedir of a real stream still works.
 */
#include "contract.h"

#include <dirent.h>

int main(void) {
  ct_name = "closedir_null";
  DIR* volatile none = NULL; /* hidden from -Wnonnull */
  errno = 0;
  CT_EXPECT_ERR(closedir(none), EINVAL, "closedir(NULL)");
  DIR* d = opendir(".");
  CT_CHECK(d != NULL, "opendir: %s", strerror(errno));
  CT_EXPECT_RET(closedir(d), 0, "closedir");
  return 0;
}
