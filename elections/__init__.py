"""Elections: the tree of elections, their statuses and who may do what on them."""
