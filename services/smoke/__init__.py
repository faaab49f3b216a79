"""`make smoke`: prove a running stack works end to end, one readable line per check."""
