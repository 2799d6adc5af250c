// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title OARN governance token (v2)
/// @notice Fixed supply of 100M GOV minted once to `holder`; ERC20Votes with a timestamp clock
///         (ERC-6372 `mode=timestamp`): on Arbitrum `block.number` follows L1 loosely, so the
///         Governor counts voting delay and period in seconds.
contract GOVTokenV2 is ERC20, ERC20Permit, ERC20Votes {
    uint256 public constant TOTAL_SUPPLY = 100_000_000 ether;

    constructor(address holder) ERC20("OARN Governance", "GOV") ERC20Permit("OARN Governance") {
        _mint(holder, TOTAL_SUPPLY);
    }

    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
