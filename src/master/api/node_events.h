// What the REST API tells the agent hub about nodes it changed, so a connected agent hears of it
// (close 4040 on removal, close 4031 on a token reset with reset_connection, /agent/node_info on
// label or availability changes). Called after the change is committed, outside any transaction.
#pragma once
#include "master/store/model.h"

namespace kontena::master {

class NodeEvents {
 public:
  virtual ~NodeEvents() = default;
  virtual void node_removed(const Node& node) = 0;      // already gone from the store
  virtual void node_changed(const Node& node) = 0;      // labels, availability
  virtual void reset_connection(const Node& node) = 0;  // drop the agent's socket, mark it offline
};

}  // namespace kontena::master
