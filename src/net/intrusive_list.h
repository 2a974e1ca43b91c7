#pragma once
// Push and unlink for the workers' intrusive doubly linked lists of connections (nodes with
// `prev` and `next` members, the list a head pointer): O(1), no allocation, on every
// connection's open and close.

namespace sg::net {

template <class Node>
void pushFront(Node*& head, Node* node) {
  node->next = head;
  node->prev = nullptr;
  if (head != nullptr) head->prev = node;
  head = node;
}

template <class Node>
void unlink(Node*& head, Node* node) {
  if (node->prev != nullptr)
    node->prev->next = node->next;
  else
    head = node->next;
  if (node->next != nullptr) node->next->prev = node->prev;
  node->prev = node->next = nullptr;
}

}  // namespace sg::net
