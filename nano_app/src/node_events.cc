#include "chorus/nano/node_events.h"

namespace chorus::nano {

const char* confirmation_type_name(ConfirmationType t) {
  switch (t) {
    case ConfirmationType::kActiveQuorum:
      return "active_quorum";
    case ConfirmationType::kActiveConfirmationHeight:
      return "active_confirmation_height";
    case ConfirmationType::kInactive:
      return "inactive";
  }
  return "inactive";
}

}  // namespace chorus::nano
