-- Which partner owns each product code (from product.created, and from every subscription event,
-- which names the product's partner too). Only the owner may send under a product code.
CREATE TABLE product_owners (
    product_code text PRIMARY KEY,
    partner_id   uuid NOT NULL
);
