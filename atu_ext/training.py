EWC=Repulsion=None
