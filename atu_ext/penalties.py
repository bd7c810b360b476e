def sq_dist(): pass
repulsion_el2=repulsion_il2=repulsion_nl2=ewc_penalty=sq_dist
